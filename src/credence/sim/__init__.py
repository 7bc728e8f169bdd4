"""The policy lab: synthetic populations, faulty agencies, simulated due process, impact reports.

``run_simulation`` runs a scheme over a seeded synthetic population month by month;
``build_report`` turns the run into the JSON-ready impact report that ``write_report`` renders.
"""

from credence.sim.population import Population, generate_population
from credence.sim.process import Simulation, run_simulation
from credence.sim.report import build_report, write_report
from credence.sim.scenarios import Faults, Injection, Scenario

__all__ = [
    "Faults",
    "Injection",
    "Population",
    "Scenario",
    "Simulation",
    "build_report",
    "generate_population",
    "run_simulation",
    "write_report",
]
