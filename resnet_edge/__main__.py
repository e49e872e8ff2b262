import sys

from resnet_edge.cli import main

sys.exit(main())
