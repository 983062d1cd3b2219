"""A generator of realistic synthetic data, so demos, tests and benchmarks run anywhere.

Deterministic for a seed. It writes the directory layout `rx-gateway load` reads, plus
``fixtures.json``, which names well-known members, drugs and pharmacies (a generic, a
multi-source brand, an insulin, a specialty drug, an excluded drug, a family on the
high-deductible plan, a Part D member...) for the demo, the tests and the benchmark.

Shapes and prices follow shared/reference/plan-designs.md: generics cost $2-$40 a month,
brands $200-$1,500, specialty $2,000-$20,000; AWP is several times acquisition cost for
generics; WAC is about AWP / 1.2.

    catalogue     drug and molecule names, people's names
    rows          one named row type per file, its fields the loader's column names
    plans         the three plan documents (commercial with HRA, HDHP, Part D)
    drugs         the drug list: multi-source, single-source, specialty, insulins
    formulary     each plan's entry for each drug (tiers, PA, limits, edits)
    pharmacies    retail, mail and specialty pharmacies in and out of network
    population    employers, families, members, coverages, purses and their funding
    fixtures      the well-known members, drugs and pharmacies (fixtures.json)
    csv_writer    a table as CSV, its header the loader's columns
    dataset       generate (the whole directory) and active_members (read it back)
    claims        claim requests as a pharmacy would send them over this data
"""

from rx_gateway.tools.synthetic.dataset import active_members, generate

__all__ = ["active_members", "generate"]
