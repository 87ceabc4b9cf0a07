"""rnnbench: what an LSTM or a GRU really costs over a plain RNN, measured."""

__version__ = "0.1.0"

# Every file rnnbench writes carries this; readers refuse any other value.
SCHEMA_VERSION = 1
