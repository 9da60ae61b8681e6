import typer

replay_app = typer.Typer(no_args_is_help=True, help="Replay recorded order flow.")
