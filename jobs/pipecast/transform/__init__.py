"""Transform: the dbt project, run in-process."""

from pipecast.transform.dbt_runner import DbtBuildResult, DbtError, dbt_build, dbt_invoke

__all__ = ["DbtBuildResult", "DbtError", "dbt_build", "dbt_invoke"]
