"""The pipeline's stages (`python -m stages.<name>`) and the modules they share.

The Hugging Face TF classes are Keras 2 models: TensorFlow must bind `tf.keras` to tf-keras,
which it does only if this is set before TensorFlow is first imported.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
