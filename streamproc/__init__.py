"""streamproc: music tasks as spectrogram image translation, run as a real-time audio effect."""
from .errors import UserError
from .pitch import PitchTrack, track_pitch
from .processor import Chain, Processor

__version__ = "0.1.0"
__all__ = ["Processor", "Chain", "track_pitch", "PitchTrack", "UserError", "__version__"]
