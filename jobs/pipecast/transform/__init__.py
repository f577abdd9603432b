"""Transform: the dbt project, run in-process."""

from pipecast.errors import DbtError
from pipecast.transform.build import DbtBuildResult, dbt_build
from pipecast.transform.dbt_runner import dbt_invoke

__all__ = ["DbtBuildResult", "DbtError", "dbt_build", "dbt_invoke"]
