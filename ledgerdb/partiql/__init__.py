"""PartiQL for ledgerdb: the QLDB subset, parsed into a typed AST and evaluated over Ion.

The engine is storage-independent: it reads rows through the ``Catalog`` / ``TableSource``
interface (``catalog.py``) and describes writes as ``Change`` objects that the database
applies inside its own transaction.
"""

from ledgerdb.partiql.catalog import Catalog, MemoryCatalog, MemoryTable, Row, TableSource
from ledgerdb.partiql.changes import (
    Change,
    CreateIndex,
    CreateTable,
    DeleteDocument,
    DropIndex,
    DropTable,
    InsertDocument,
    UndropTable,
    UpdateDocument,
)
from ledgerdb.partiql.errors import (
    PartiQLError,
    PartiQLEvaluationError,
    PartiQLSemanticError,
    PartiQLSyntaxError,
    PartiQLTypeError,
    UnknownIndex,
    UnknownTable,
    UnknownVariable,
)
from ledgerdb.partiql.evaluator import StatementResult, execute, explain
from ledgerdb.partiql.parser import parse
from ledgerdb.partiql.planner import Plan, plan_statement
from ledgerdb.partiql.values import MISSING, Bag

__all__ = [
    "MISSING",
    "Bag",
    "Catalog",
    "Change",
    "CreateIndex",
    "CreateTable",
    "DeleteDocument",
    "DropIndex",
    "DropTable",
    "InsertDocument",
    "MemoryCatalog",
    "MemoryTable",
    "PartiQLError",
    "PartiQLEvaluationError",
    "PartiQLSemanticError",
    "PartiQLSyntaxError",
    "PartiQLTypeError",
    "Plan",
    "Row",
    "StatementResult",
    "TableSource",
    "UndropTable",
    "UnknownIndex",
    "UnknownTable",
    "UnknownVariable",
    "UpdateDocument",
    "execute",
    "explain",
    "parse",
    "plan_statement",
]
