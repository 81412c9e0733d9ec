"""The spec author's toolbox."""
