"""Shared plumbing of the simulators: worker pools, random streams, means and standard errors,
atomic file writes, and the resumable sweep store.

Everything that runs trials in parallel, draws a seeded stream or writes a result file goes
through one function here, so that reproducibility (a seed gives the same bits for any number
of workers or backend) and crash safety (a killed run leaves no partial file) are decided once.
"""
