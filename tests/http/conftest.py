from tests.rpc.conftest import data_dir, sample_template  # noqa: F401 - shared fixtures
