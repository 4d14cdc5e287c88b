"""Headless subcommands of the `rnxstudio` CLI; each module has add_arguments(parser) and run(args)."""


class CliError(Exception):
    """A user-facing error: printed by the CLI as one line, exit status 2."""


def open_session_or_fail(path, *, sync: bool = True, recursive: bool = True):
    """The :class:`~rnxstudio.data.session.ProjectSession` for PATH (project file, image folder,
    video or unzipped export) — the same writer the GUI uses — or a one-line CliError."""
    from rnxstudio.data.project import ProjectError
    from rnxstudio.data.session import ProjectSession

    try:
        return ProjectSession.open(path, sync=sync, recursive=recursive)
    except ProjectError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"{path}: cannot open project ({exc})") from exc
