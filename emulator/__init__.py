"""A local stand-in for the WeChat platform, government H5 sites, followers and operators.

See docs/emulator.md for the contract. The product imports this package only from
``wxmon demo`` and ``wxmon emulator``; this package imports nothing of the product
except ``monitor.clock``.
"""
