"""The instance on a real PostgreSQL server: two recipes launched at once go through the queued run coordinator
and the daemon, and both publish."""

import pytest
import yaml

from refinery.catalog import Catalog
from refinery.instance import PROJECT_ROOT, get_instance
from refinery_tests.postgres import postgres_server
from refinery_tests.test_ui import LAUNCH, STATUS, _graphql, _wait, live_instance


@pytest.fixture
def postgres_home(dagster_home):
    with postgres_server() as url:
        dagster_home.mkdir(parents=True)
        config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
        config["storage"] = {"postgres": {"postgres_url": url}}
        (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
        yield dagster_home


def test_two_recipes_at_once_through_the_queue_on_postgres(small_recipe, write_recipe, tmp_path, postgres_home):
    write_recipe(small_recipe, "small.yaml")
    write_recipe({**small_recipe, "dataset": "second"}, "second.yaml")
    assert type(get_instance().run_storage).__name__ == "PostgresRunStorage"
    with live_instance(tmp_path / "*.yaml") as port:
        runs = []
        for job in ("refine_small", "refine_second"):
            selector = {"repositoryLocationName": "refinery", "repositoryName": "__repository__", "jobName": job}
            launched = _graphql(port, LAUNCH, {"params": {"selector": selector}})["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            runs.append(launched["run"]["runId"])
        done = {"SUCCESS", "FAILURE", "CANCELED"}

        def statuses():
            found = [_graphql(port, STATUS, {"id": r})["runOrError"]["status"] for r in runs]
            return all(s in done for s in found) and found

        assert _wait(statuses, 300, 2) == ["SUCCESS", "SUCCESS"]
    for dataset in ("small", "second"):
        v = Catalog(tmp_path / "refined").version(dataset)
        assert v.manifest["dagster_run_id"] in runs
        v.verify()
    assert {r.run_id for r in get_instance().get_runs()} >= set(runs)  # the runs live in Postgres
