"""No code but the one writer changes a stored session (issue 11, acceptance point 1: "there
is no other insert or update of the sessions table"), checked statically with `ast` over
every module of the package:

- the sessions table (and its versions table) appear in an insert, update or delete
  statement only inside the sessions repository;
- that repository's write functions are referred to only by the writer module;
- no module has SQL text inserting into, updating or deleting from the sessions table.

Migrations are left out: they ran once, before the writer, and are the schema's history.

The modules are imported below and named nowhere else (the layout is about to move, by a
tool that rewrites dotted module names): paths and names all derive from these imports.
A scratch package (test_the_check_finds_...) proves that each kind of offence is found.
"""

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import chargeledger
from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions import writer
from chargeledger.storage import migrations, tables

PACKAGE_DIR = Path(chargeledger.__file__).parent
MIGRATIONS_DIR = Path(migrations.__file__).parent
# The tables only the repository may write, by their names in the tables module -> in SQL.
WRITTEN_TABLES = {
    attribute: value.name
    for attribute, value in vars(tables).items()
    if any(value is table for table in (tables.charge_sessions, tables.charge_session_versions))
}
SESSIONS_ATTRIBUTE, VERSIONS_ATTRIBUTE = (
    next(attribute for attribute, value in vars(tables).items() if value is table)
    for table in (tables.charge_sessions, tables.charge_session_versions)
)
SESSIONS_SQL_NAME = tables.charge_sessions.name
WRITE_FUNCTIONS = tuple(
    function.__name__
    for function in (
        sessions_repository.insert_row,
        sessions_repository.update_row,
        sessions_repository.delete_row,
        sessions_repository.insert_version,
    )
)
# Calls that make a writing statement of a table among their arguments (or, as a table's
# own .insert()/.update()/.delete(), of the table they are called on).
WRITE_CALLS = frozenset({"insert", "update", "delete", "insert_on_conflict", "bulk_insert"})
RAW_SQL = re.compile(
    rf"\b(?:insert\s+into|update|delete\s+from)\s+[\"'`]?{SESSIONS_SQL_NAME}\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are: dotted module names, as imported above."""

    package: str
    tables: str
    repository: str
    writer: str
    migrations: str

    @classmethod
    def of_this_code(cls) -> "Layout":
        return cls(
            package=chargeledger.__name__,
            tables=tables.__name__,
            repository=sessions_repository.__name__,
            writer=writer.__name__,
            migrations=migrations.__name__,
        )


@dataclass(frozen=True, slots=True)
class Site:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


@dataclass
class Scan:
    table_writes: list[Site]  # what: the call's name and the table
    write_function_uses: list[Site]  # what: the repository function referred to
    raw_sql: list[Site]  # what: the SQL text


def module_name(package_dir: Path, package: str, path: Path) -> str:
    parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def dotted(node: ast.expr) -> list[str] | None:
    """a.b.c as ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return None if head is None else [*head, node.attr]
    return None


class Resolver:
    """The canonical dotted names of a module's names: what its imports and module-level
    definitions bind, and plain assignments of a tracked name (`table = charge_sessions`),
    wherever they are (scopes aside: a name is taken to mean one thing per module)."""

    def __init__(
        self, tree: ast.Module, *, module: str, is_package: bool, tracked: set[str]
    ) -> None:
        self.bindings: dict[str, str] = {}
        for statement in tree.body:
            for name in _defined_names(statement):
                self.bindings[name] = f"{module}.{name}"
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname is None:  # `import a.b.c` binds `a`
                        head = alias.name.partition(".")[0]
                        self.bindings[head] = head
                    else:
                        self.bindings[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: package.count(".") + 2 - node.level]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                for alias in node.names:
                    self.bindings[alias.asname or alias.name] = f"{base}.{alias.name}"
        assignments = [
            (target.id, node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        ]
        aliased: set[str] = set()
        # Until nothing changes; each name is aliased once at most, so this ends.
        while True:
            new = {
                name: resolved
                for name, value in assignments
                if name not in aliased and (resolved := self.resolve(value)) in tracked
            }
            if not new:
                break
            self.bindings.update(new)
            aliased.update(new)

    def resolve(self, node: ast.expr) -> str | None:
        parts = dotted(node)
        if parts is None or parts[0] not in self.bindings:
            return None
        return ".".join([self.bindings[parts[0]], *parts[1:]])


def _defined_names(statement: ast.stmt) -> Iterator[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield statement.name
    elif isinstance(statement, ast.Assign):
        yield from (target.id for target in statement.targets if isinstance(target, ast.Name))
    elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        yield statement.target.id


def python_modules(package_dir: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(package_dir.rglob("*.py")):
        yield module_name(package_dir, package, path), path


def scan(package_dir: Path, layout: Layout, migrations_dir: Path) -> Scan:
    """Every write of the tables, use of the write functions and SQL text writing sessions
    in the package, migrations aside."""
    found = Scan(table_writes=[], write_function_uses=[], raw_sql=[])
    table_names = {f"{layout.tables}.{attribute}": attribute for attribute in WRITTEN_TABLES}
    functions = {f"{layout.repository}.{name}" for name in WRITE_FUNCTIONS}
    for module, path in python_modules(package_dir, layout.package):
        if path.is_relative_to(migrations_dir):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        resolver = Resolver(
            tree,
            module=module,
            is_package=path.name == "__init__.py",
            tracked=set(table_names) | functions,
        )

        def tables_in(node: ast.AST, resolver: Resolver = resolver) -> Iterator[str]:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name | ast.Attribute):
                    resolved = resolver.resolve(inner)
                    if resolved in table_names:
                        yield table_names[resolved]
                elif isinstance(inner, ast.Constant) and inner.value in WRITTEN_TABLES.values():
                    # sa.table("charge_sessions"), metadata.tables["charge_sessions"], ...
                    yield next(a for a, sql in WRITTEN_TABLES.items() if sql == inner.value)

        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _called_name(node) in WRITE_CALLS:
                parts = [node.func, *node.args, *(keyword.value for keyword in node.keywords)]
                for table in sorted({table for part in parts for table in tables_in(part)}):
                    found.table_writes.append(
                        Site(module, node.lineno, f"{_called_name(node)} {table}")
                    )
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                resolved = resolver.resolve(node)
                if resolved in functions:
                    found.write_function_uses.append(Site(module, node.lineno, resolved))
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    imported = resolver.bindings.get(alias.asname or alias.name)
                    if imported in functions:
                        found.write_function_uses.append(Site(module, node.lineno, imported))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for sql in RAW_SQL.finditer(node.value):
                    found.raw_sql.append(Site(module, node.lineno, sql.group(0)))
    for path in sorted(package_dir.rglob("*.sql")):
        if not path.is_relative_to(migrations_dir):
            for sql in RAW_SQL.finditer(path.read_text(encoding="utf-8")):
                found.raw_sql.append(Site(str(path.relative_to(package_dir)), 0, sql.group(0)))
    return found


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def test_only_the_repository_writes_sessions_and_only_the_writer_calls_its_write_functions() -> (
    None
):
    layout = Layout.of_this_code()

    found = scan(PACKAGE_DIR, layout, MIGRATIONS_DIR)

    elsewhere = [site for site in found.table_writes if site.module != layout.repository]
    assert elsewhere == [], "sessions written outside the repository:\n" + "\n".join(
        map(str, elsewhere)
    )
    bypassing = [site for site in found.write_function_uses if site.module != layout.writer]
    assert bypassing == [], "repository write functions used outside the writer:\n" + "\n".join(
        map(str, bypassing)
    )
    assert found.raw_sql == [], "SQL text writing sessions:\n" + "\n".join(map(str, found.raw_sql))
    # The check sees the real statements and calls: it is not passing for want of finding any.
    assert {site.what.split()[0] for site in found.table_writes} >= {"insert", "update", "delete"}
    assert {site.what for site in found.table_writes} >= {
        f"insert {table}" for table in WRITTEN_TABLES
    }
    assert {site.what.rpartition(".")[2] for site in found.write_function_uses} == set(
        WRITE_FUNCTIONS
    )


def test_the_check_finds_every_kind_of_offence_in_a_scratch_package(tmp_path: Path) -> None:
    """A scratch copy of the package's layout (the same dotted names) with one offending
    module per way around the writer, and a migration that may write sessions."""
    layout = Layout.of_this_code()
    root = tmp_path / layout.package
    relative_tables = layout.tables.removeprefix(f"{layout.package}.")
    table = SESSIONS_ATTRIBUTE
    offences = {
        "rogue_update": f"import sqlalchemy as sa\nfrom {layout.tables} import {table} as t\n"
        "statement = sa.update(t)\n",
        "rogue_table_method": f"from {layout.tables.rpartition('.')[0]} import "
        f"{layout.tables.rpartition('.')[2]} as tables_module\n"
        f"target = tables_module.{table}\nasync def go(c):\n    await c.execute(target.delete())\n",
        "rogue_dotted": f"import {layout.tables}\nimport sqlalchemy\n"
        f"statement = sqlalchemy.insert({layout.tables}.{VERSIONS_ATTRIBUTE})\n",
        "rogue_by_name": "import sqlalchemy as sa\n"
        f"statement = sa.delete(sa.table({SESSIONS_SQL_NAME!r}))\n",
        "rogue_upsert": f"from {layout.tables} import {table}\n"
        "def go(connection, insert_on_conflict):\n"
        f"    return insert_on_conflict(connection, {table})\n",
        "rogue_repository_call": f"import {layout.repository} as repo\n"
        "async def go(c):\n    await repo.update_row(c, entity_id=1)\n",
        "rogue_repository_import": f"from {layout.repository} import insert_version\n",
        "rogue_sql": "import sqlalchemy as sa\n"
        f"statement = sa.text('update {SESSIONS_SQL_NAME} set energy_kwh = 0')\n",
    }
    for name, source in offences.items():
        path = root / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    nested = root / "rogue_package" / "relative.py"
    nested.parent.mkdir()
    nested.write_text(
        f"import sqlalchemy as sa\nfrom ..{relative_tables} import {table}\n"
        f"statement = sa.insert({table})\n",
        encoding="utf-8",
    )
    migrations_dir = root.joinpath(*layout.migrations.split(".")[1:])
    migration = migrations_dir / "versions" / "0099_backfill.py"
    migration.parent.mkdir(parents=True)
    migration.write_text(
        f"from alembic import op\nop.execute('UPDATE {SESSIONS_SQL_NAME} SET version = 1')\n"
        f"import sqlalchemy as sa\nfrom {layout.tables} import {table}\n"
        f"statement = sa.update({table})\n",
        encoding="utf-8",
    )

    found = scan(root, layout, migrations_dir)

    package = layout.package
    assert sorted(str(site) for site in found.table_writes) == [
        f"{package}.rogue_by_name:2: delete {table}",
        f"{package}.rogue_dotted:3: insert {VERSIONS_ATTRIBUTE}",
        f"{package}.rogue_package.relative:3: insert {table}",
        f"{package}.rogue_table_method:4: delete {table}",
        f"{package}.rogue_update:3: update {table}",
        f"{package}.rogue_upsert:3: insert_on_conflict {table}",
    ]
    assert sorted(str(site) for site in found.write_function_uses) == [
        f"{package}.rogue_repository_call:3: {layout.repository}.update_row",
        f"{package}.rogue_repository_import:1: {layout.repository}.insert_version",
    ]
    assert [str(site) for site in found.raw_sql] == [
        f"{package}.rogue_sql:2: update {SESSIONS_SQL_NAME}"
    ]
