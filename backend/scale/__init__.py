"""Scoring and training beyond one process: the same core run partition by partition on Dask.

Dask is an optional extra (``pip install .[dask]``); nothing on the default path imports this
package, and the single-process path gives the same results.
"""
