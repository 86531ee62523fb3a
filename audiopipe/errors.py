"""One exception per failure kind, each with a message a user can act on.

Stages raise these; ``pipeline`` catches them at the per-file boundary, writes an error
row and a log line, and goes on with the next file.
"""


class AudiopipeError(Exception):
    """Base of every error audiopipe reports about an input or a setting."""

    kind = "error"
    #: an input error is a property of the file: the same file fails again, so its
    #: result is kept and not retried on resume. Other errors are retried.
    permanent = True


class ConfigError(AudiopipeError):
    kind = "config"


class ModelError(AudiopipeError):
    kind = "model"
    permanent = False


class UnreadableFile(AudiopipeError):
    kind = "unreadable"
    permanent = False


class EmptyFile(AudiopipeError):
    kind = "empty"


class FileTooLarge(AudiopipeError):
    kind = "too_large"


class CorruptMedia(AudiopipeError):
    kind = "corrupt"


class NoAudioStream(AudiopipeError):
    kind = "no_audio"


class UnsupportedCodec(AudiopipeError):
    kind = "unsupported_codec"


class StageError(AudiopipeError):
    """A stage failed on a file that decoded fine (a bug or a resource problem)."""

    kind = "stage"
    permanent = False


class OutputError(AudiopipeError):
    """The case folder cannot be written (disk full, permissions)."""

    kind = "write"
    permanent = False
