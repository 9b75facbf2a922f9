"""DVC beyond one machine: a finished run pushed to a DVC remote (a local folder; S3 on the loopback
address, served by moto) and pulled into a fresh clone that then has nothing to rerun; an experiment
carried between clones by `dvc exp push` / `dvc exp pull` through a git remote."""

import json
import os

import pytest
import yaml

from conftest import GIT, SHARED, TINY, copy_repo, sh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory, dvc_cache):
    """A tiny run committed as a team shares one: dvc.lock and the git-tracked metrics in git, pushed to
    a bare repository that stands in for the team's git server."""
    if not (SHARED / "rabbit.npy").exists():
        pytest.skip("../shared/quickdraw is not beside the repo")
    root = tmp_path_factory.mktemp("team")
    repo = copy_repo(root / "work", dvc_cache)  # test_pipeline's tiny run, when it ran: from the run cache
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in {"data.source": str(SHARED), **TINY}.items():
        node = params
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=repo)
    sh(*GIT, "add", "-A", cwd=repo)
    sh(*GIT, "commit", "-qm", "tiny run", cwd=repo)
    sh("git", "init", "-q", "--bare", str(root / "origin.git"), cwd=root)
    sh("git", "remote", "add", "origin", str(root / "origin.git"), cwd=repo)
    return repo, root


def round_trip(repo, root, name: str, url: str, env: dict | None = None, **config) -> None:
    """`dvc push` from the run, `git clone` + `dvc pull` elsewhere: every stage up to date, metrics and
    plots readable, nothing retrained."""
    sh("dvc", "remote", "add", "-f", "-d", name, url, cwd=repo)
    for key, value in config.items():
        sh("dvc", "remote", "modify", name, key, value, cwd=repo)
    sh(*GIT, "commit", "-qam", f"remote {name}", cwd=repo)
    sh("git", "push", "-q", "origin", "HEAD:main", cwd=repo)
    sh("dvc", "push", cwd=repo, env=env)
    clone = root / f"clone-{name}"
    sh("git", "clone", "-q", "-b", "main", str(root / "origin.git"), str(clone), cwd=root)
    headline = json.loads((clone / "metrics/headline.json").read_text())  # metrics travel in git
    assert not (clone / "models/conditional.pt").exists()
    sh("dvc", "pull", cwd=clone, env=env)
    assert (clone / "models/conditional.pt").read_bytes() == (repo / "models/conditional.pt").read_bytes()
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=clone).stdout
    assert "Running stage" not in sh("dvc", "repro", "--dry", cwd=clone).stdout
    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=clone).stdout)
    assert next(iter(shown.values()))["data"]["metrics/headline.json"]["data"] == headline
    sh("dvc", "plots", "show", "--json", cwd=clone)


def test_a_local_folder_remote_round_trip(published):
    repo, root = published
    round_trip(repo, root, "folder", str(root / "dvc-store"))


def test_an_s3_remote_round_trip_against_moto_on_loopback(published):
    pytest.importorskip("dvc_s3", reason="the s3 extra (dvc-s3) is not installed")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    repo, root = published
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                     region_name="us-east-1").create_bucket(Bucket="team")
        round_trip(repo, root, "s3", "s3://team/quickdraw-vae", env, endpointurl=endpoint)
    finally:
        server.stop()


def test_an_experiment_travels_between_clones_through_git(published):
    repo, root = published
    round_trip(repo, root, "shared", str(root / "exp-store"))
    sh("dvc", "exp", "run", "--name", "seed-one", "-S", "evaluate.seed=1", cwd=repo)
    sh("dvc", "exp", "push", "origin", "seed-one", cwd=repo)  # its commit to git, its outputs to the remote
    other = root / "clone-shared"
    sh("dvc", "exp", "pull", "origin", "seed-one", cwd=other)
    assert "seed-one" in sh("dvc", "exp", "show", "--csv", cwd=other).stdout
    diff = json.loads(sh("dvc", "metrics", "diff", "HEAD", "seed-one", "--json", cwd=other).stdout)
    assert "metrics/headline.json" in diff, "the experiment's own figures, read on the second clone"
    sh("dvc", "exp", "apply", "seed-one", cwd=other)
    sh("dvc", "pull", cwd=other)
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=other).stdout
    assert json.loads((other / "metrics/headline.json").read_text()) == json.loads(
        sh("git", "show", "refs/exps/" + _exp_ref(repo, "seed-one") + ":metrics/headline.json", cwd=repo).stdout)


def _exp_ref(repo, name: str) -> str:
    refs = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout.split()
    return next(r for r in refs if r.endswith("/" + name)).removeprefix("refs/exps/")
