"""Run the `consentcam` command as `python -m consentcam`."""

from consentcam.cli import run

run()
