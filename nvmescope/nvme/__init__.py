"""The NVMe specification as data: layouts, name tables and decoders.

Imports only construct and the standard library (and other nvme modules).
"""
