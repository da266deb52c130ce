"""The tier rule of tests/conftest.py, on a test module of its own run by a nested pytest (pytester)."""
from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
TESTS = '''
import pytest
from conftest import run_script

@pytest.fixture(scope="module")
def decoded(cifar):
    return cifar

def test_plain(tmp_path):
    pass

def test_asks_for_scripts(run_script):
    pass

def test_uses_the_data_through_a_fixture(decoded):
    pass

def test_uses_trained_checkpoints(trained_checkpoints):
    pass

def test_uses_the_browser(browser):
    pass

@pytest.mark.slow
def test_marked_by_hand():
    pass

def test_starts_a_script_without_the_fixture():
    run_script("-c", "pass")
'''


def test_a_test_is_slow_by_the_fixtures_it_uses_or_its_own_mark(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_tiers_example=TESTS)
    slow = pytester.runpytest("-m", "slow", "--collect-only", "-q")
    names = {line.split("::")[1] for line in slow.outlines if "::" in line}
    assert names == {"test_asks_for_scripts", "test_uses_the_data_through_a_fixture", "test_uses_trained_checkpoints",
                     "test_uses_the_browser", "test_marked_by_hand"}


def test_run_script_refuses_a_test_of_the_fast_tier(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_tiers_example=TESTS)
    fast = pytester.runpytest("-m", "not slow", "-q")
    fast.assert_outcomes(passed=1, failed=1, deselected=5)
    fast.stdout.fnmatch_lines(["*test_starts_a_script_without_the_fixture runs a script but is in the fast tier: ask "
                               "for the `run_script` fixture*"])
