"""The help formatter every command uses: argparse's defaults in the help, except empty ones."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' only where X says something: never for None, False, an empty value, or a
    positional argument."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, "", [], ()) or action.default is argparse.SUPPRESS:
            return text
        if not action.option_strings or "%(default)" in text:
            return text
        return super()._get_help_string(action)
