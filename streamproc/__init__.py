"""streamproc: music tasks as spectrogram image translation, run as a real-time audio effect."""
from .errors import UserError
from .processor import Chain, Processor

__version__ = "0.1.0"
__all__ = ["Processor", "Chain", "UserError", "__version__"]
