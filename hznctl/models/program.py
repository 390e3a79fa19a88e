"""supervisord options of a worker group's program that operators set themselves.

A worker group's ``supervisord`` options win over its host's (``supervisord.program`` in
hosts/<name>.yaml, or in project.yaml's ``defaults.host``), which win over hznctl's own.
Every option is typed here; its value still reaches the program file through the one INI
gate and is read back with supervisor's own code.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from hznctl.models.common import AbsolutePath, Model
from hznctl.system import DEVICES

# supervisor's byte_size: a number with an optional KB, MB or GB.
ByteSize = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}(KB|MB|GB)?$")]
Umask = Annotated[str, StringConstraints(pattern=r"^0?[0-7]{3}$")]
# A file, NONE (no log), or the container case: supervisord's own stdout or stderr.
LogTarget = Literal["NONE", "/dev/stdout", "/dev/stderr"] | AbsolutePath


class ProgramOptions(Model):
    """supervisord options of a program; unset ones come from the host, then hznctl."""

    autostart: bool | None = Field(
        default=None, description="Start when supervisord starts (default: true).")
    priority: Annotated[int, Field(ge=1, le=999)] | None = Field(
        default=None, description="Start order, lower first; stop order reversed "
        "(default: 999).")
    numprocs_start: Annotated[int, Field(ge=0, le=100000)] | None = Field(
        default=None, description="Number of the group's first process; the processes are "
        "numbered from it (default: 0, so <program>_00, <program>_01 …).")
    startretries: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description="Failed starts before FATAL (default: 3).")
    umask: Umask | None = Field(
        default=None, description="The worker's umask, e.g. '022' (default: supervisord's).")
    redirect_stderr: bool | None = Field(
        default=None, description="Send stderr to the stdout log (default: false).")
    stdout_logfile: LogTarget | None = Field(
        default=None, description="A file, NONE, or /dev/stdout for a container (default: "
        "<log_dir>/<program>_<nn>.out.log).")
    stderr_logfile: LogTarget | None = Field(
        default=None, description="A file, NONE, or /dev/stderr for a container (default: "
        "<log_dir>/<program>_<nn>.err.log).")
    logfile_maxbytes: ByteSize | None = Field(
        default=None, description="Rotate a log file at this size (default: 50MB; 0 for "
        "/dev/stdout and /dev/stderr, which cannot rotate).")
    logfile_backups: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Rotated log files kept (default: 10).")

    @model_validator(mode="after")
    def _devices_do_not_rotate(self) -> ProgramOptions:
        devices = {t for t in (self.stdout_logfile, self.stderr_logfile) if t in DEVICES}
        if devices and self.logfile_maxbytes not in (None, "0"):
            raise ValueError(f"logfile_maxbytes must be 0 with {', '.join(sorted(devices))}: "
                             "supervisord cannot rotate a device (it fails with 'Illegal "
                             "seek')")
        if self.redirect_stderr and self.stderr_logfile not in (None, "NONE"):
            raise ValueError("redirect_stderr sends stderr to the stdout log; stderr_logfile "
                             "would be ignored")
        return self

    def over(self, lower: ProgramOptions) -> ProgramOptions:
        """These options, with ``lower``'s where these are unset."""
        # Every field is a plain value: the set ones are the instance's non-None values.
        mine = {k: v for k, v in self.__dict__.items() if v is not None}
        if not mine:  # most groups set none: the host's (or hznctl's) options as they are
            return lower
        theirs = {k: v for k, v in lower.__dict__.items() if v is not None}
        if not theirs:
            return self
        return ProgramOptions.model_construct(**{**theirs, **mine})
