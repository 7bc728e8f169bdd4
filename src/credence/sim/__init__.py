"""The policy lab: synthetic populations and faulty agencies run through the real system.

``make_world`` generates a seeded population and what its agencies report; ``run_lab`` feeds
it through a store, the due process and the objection and review functions the API calls;
``run_experiment`` adds the baseline with the safeguards off, the grades and the impact report
(``build_report``, queries over the store, rendered by ``write_report``).
"""

from credence.sim.experiment import Experiment, run_experiment
from credence.sim.lab import LabRun, World, make_world, run_lab
from credence.sim.population import Population, generate_population
from credence.sim.report import build_report, write_report
from credence.sim.scenarios import Behaviour, Faults, Injection, Scenario

__all__ = [
    "Behaviour",
    "Experiment",
    "Faults",
    "Injection",
    "LabRun",
    "Population",
    "Scenario",
    "World",
    "build_report",
    "generate_population",
    "make_world",
    "run_experiment",
    "run_lab",
    "write_report",
]
