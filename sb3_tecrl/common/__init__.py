"""Maths and layers shared by DSAC-E and DSAC-T."""
