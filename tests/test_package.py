import subprocess
import sys


def test_public_verbs_load_lazily() -> None:
    code = "import sys, resnet_edge; assert 'tensorflow' not in sys.modules; resnet_edge.ModelConfig(depth=20)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    import resnet_edge

    assert resnet_edge.build_resnet(resnet_edge.ModelConfig(depth=8)).name == "resnet8"
