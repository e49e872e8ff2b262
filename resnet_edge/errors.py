"""Errors a user can cause. The CLI prints each as one line on stderr and exits with code 2."""

from __future__ import annotations


class ResnetEdgeError(Exception):
    """Base of every user-facing error: the message names what was received and what is accepted."""

    exit_code = 2  # a usage error; 1 is kept for a legitimate failure (validation, a model that did not learn)


class ConfigError(ResnetEdgeError, ValueError):
    """An option or configuration value outside what is accepted."""


class ModelFileError(ResnetEdgeError):
    """A model file that is missing, unreadable or not a model this toolkit can read."""


class DataError(ResnetEdgeError):
    """A data source that is missing, empty, or not in the expected format."""


class TrainingFailed(ResnetEdgeError):
    """Training finished but the model ended near chance: nothing downstream should use it."""

    exit_code = 1
