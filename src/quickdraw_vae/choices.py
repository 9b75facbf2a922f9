"""The valid values of every params.yaml choice, in one place: the params validation and the code
that acts on them both read these lists (no PyTorch import, so params load fast)."""

ENCODERS = ("rnn", "cnn")
RNN_READOUTS = ("last", "rows", "pool")  # models.RowGRUEncoder
DECODER_OUTPUTS = ("transpose", "transpose_conv", "resize_conv")  # models.Decoder
CONDITIONAL_MODES = ("add", "shift", "concat", "cvae")  # models.VAE
CONDITIONAL_INITS = ("best", "scratch")
STRATEGIES = ("prior", "temperature", "gmm")  # sampling.Sampler
PIXELS = ("mean", "sharpened", "bernoulli")
DEVICES = ("auto", "cpu", "cuda", "mps")  # runtime.pick_device
FEATURE_EXTRACTORS = ("sketch", "inception")  # metrics
