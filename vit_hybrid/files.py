"""The file names of a checkpoint folder, as transformers writes them and the Hub stores them."""

CONFIG_NAME = "config.json"
PROCESSOR_CONFIG_NAME = "preprocessor_config.json"
SAFE_WEIGHTS_NAME = "model.safetensors"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHT_NAMES = (SAFE_WEIGHTS_NAME, WEIGHTS_NAME)  # in the order they are looked for
