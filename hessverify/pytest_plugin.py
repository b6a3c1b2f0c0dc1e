"""pytest plugin (auto-loaded through the ``pytest11`` entry point): registers hessverify's hypothesis profiles."""
from hessverify.profiles import register_profiles


def pytest_configure(config):  # noqa: D103 - pytest hook
    register_profiles()
