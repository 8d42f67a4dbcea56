"""Exception types of vmt-dask: one contract for every public function.

Exception hierarchy
-------------------
::

    ValueError
     └── InputError            a bad value (wrong shape, out of range, unknown name, empty phase)
          └── DTypeError       an array of the wrong dtype (also a TypeError, see below)
    TypeError
     ├── (plain TypeError)     an argument of the wrong Python type (a list where an array is
     │                         expected, a string where a number is expected, a bool as an axis)
     └── DTypeError

The rules every public function follows (the checks live in :mod:`vmt_dask.validation`):

* A wrong Python type raises the built-in :class:`TypeError`.  Such errors are programming
  errors of the caller; the command line never produces them.
* A value of the right type that is not acceptable raises :class:`InputError`, a
  :class:`ValueError` subclass, so ``except ValueError`` keeps working.
* An array whose dtype is wrong (a float mask, a float label volume) raises
  :class:`DTypeError`, which is both a :class:`TypeError` (the kind of the array is wrong, as
  in NumPy and scikit-image) and an :class:`InputError` (such arrays usually come from a
  user's file, so the command line must report them like any bad input).  The double base
  follows :class:`numpy.exceptions.AxisError`, which is both a ValueError and an IndexError.
* Every message is one line that names the parameter and the offending value (for arrays:
  their shape, dtype or range).
* Errors are raised before any work is done or submitted, so nothing stored is touched.

The command line catches :class:`InputError` (hence also :class:`DTypeError`), prints its
message on one line and exits with status 2; no traceback reaches a user.
"""

__all__ = ["InputError", "DTypeError"]


class InputError(ValueError):
    """Bad input value, detected before any work is submitted.

    The CLI prints the message on one line and exits with status 2.
    """


class DTypeError(InputError, TypeError):
    """An array argument has the wrong dtype.

    Both a :class:`TypeError` and an :class:`InputError` (hence a :class:`ValueError`);
    see the module docstring for why.
    """
