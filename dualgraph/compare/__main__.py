"""python -m dualgraph.compare: the two modes side by side on the built-in workload."""
from .cli import main

main()
