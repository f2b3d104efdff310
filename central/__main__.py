"""`python -m central` = `corr-central`."""

from central.cli import main

main()
