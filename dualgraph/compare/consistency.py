"""dg.check_consistency: placeholder until written."""


def check_consistency(fn, *args, **kw):
    raise NotImplementedError
