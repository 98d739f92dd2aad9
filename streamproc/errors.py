"""One exception type for every mistake a user can make, so the CLI can print one line and exit 2."""


class UserError(Exception):
    """Bad input from the user (file, argument, audio content). Shown as one line, exit status 2."""


class AudioTypeError(UserError, TypeError):
    """Audio of a dtype the engines do not take (they want floating point in [-1, 1])."""


class SampleRateError(UserError, ValueError):
    """A sample rate that is not finite, not a whole number of Hz, or outside the supported range."""


class AudioShapeError(UserError, ValueError):
    """Audio whose shape the processor cannot take (not 1-D or 2-D, or the wrong channel count)."""
