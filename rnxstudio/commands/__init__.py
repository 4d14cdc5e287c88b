"""Headless subcommands of the `rnxstudio` CLI; each module has add_arguments(parser) and run(args)."""


class CliError(Exception):
    """A user-facing error: printed by the CLI as one line, exit status 2."""


def open_project_or_fail(path: str, *, recursive: bool = True):
    """The project for PATH (project file, image folder, video or unzipped export) or a one-line
    CliError."""
    from rnxstudio.data.project import ProjectError, open_project

    try:
        return open_project(path, recursive=recursive)
    except ProjectError as exc:
        raise CliError(str(exc)) from exc
