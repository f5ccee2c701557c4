"""Parse tree -> AST. Total: every tree the grammar accepts becomes an AST; nothing is
checked here, so a mistake surfaces later as a located diagnostic, never as a VisitError."""

from __future__ import annotations

import ast as python_ast

from lark import Token, Tree
from nnc.compiler import ast
from nnc.compiler.diagnostics import CompileError, Diagnostic
from nnc.compiler.evaluate import MAX_INT
from nnc.compiler.source import Source, Span

_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%"}


class _Builder:
    def __init__(self, source: Source):
        self.source = source

    def span(self, node: Tree | Token) -> Span:
        if isinstance(node, Token):
            return Span(self.source, node.start_pos, node.end_pos)
        return Span(self.source, node.meta.start_pos, node.meta.end_pos)

    def string(self, token: Token) -> str:
        """A string literal's value. The grammar admits single-line literals with escapes; a
        raw NUL (which Python's parser refuses) reads as the character, and an escape Python
        cannot read (a named character it does not know) is E108 at the literal."""
        try:
            return python_ast.literal_eval(str(token).replace("\0", "\\x00"))
        except (SyntaxError, ValueError) as e:
            message = f"this string cannot be read: {getattr(e, 'msg', e)}"
            raise CompileError([Diagnostic("E108", message, self.span(token))]) from None

    def ident(self, token: Token) -> ast.Ident:
        return ast.Ident(str(token), self.span(token))

    # ---- expressions ----
    def expr(self, node: Tree | Token) -> ast.Expr:
        kind = node.data
        span = self.span(node)
        if kind == "number":
            text = str(node.children[0])
            if any(c in text for c in ".eE"):
                return ast.Literal(float(text), span)
            if len(text.lstrip("0")) > 19 or int(text) > MAX_INT:  # never parse thousands of digits
                message = f"integer literal too large: {len(text)} digits; integers fit int64"
                raise CompileError([Diagnostic("E107", message, span)])
            return ast.Literal(int(text), span)
        if kind == "string":
            return ast.Literal(self.string(node.children[0]), span)
        if kind == "true":
            return ast.Literal(True, span)
        if kind == "false":
            return ast.Literal(False, span)
        if kind == "none":
            return ast.Literal(None, span)
        if kind == "ref":
            return ast.Ref(str(node.children[0]), span)
        if kind == "neg":
            return ast.Unary("-", self.expr(node.children[0]), span)
        if kind in _BINARY:
            left, right = node.children
            return ast.Binary(_BINARY[kind], self.expr(left), self.expr(right), span)
        if kind in ("tuple", "list"):
            return ast.Sequence(tuple(self.expr(c) for c in node.children if c is not None), span)
        if kind == "dict":
            entries = tuple(
                (self.ident(e.children[0]), self.expr(e.children[1])) for e in node.children if e is not None
            )
            return ast.Mapping(entries, span)
        if kind == "call":
            return self.call(node)
        raise AssertionError(f"build_ast: unhandled expression rule {kind!r}")

    def call(self, node: Tree) -> ast.Call:
        name, arguments = node.children
        args, kwargs = self.arguments(arguments)
        return ast.Call(self.ident(name), args, kwargs, self.span(node))

    def arguments(self, node: Tree | None):
        args, kwargs = [], []
        for child in node.children if node is not None else ():
            if child is None:
                continue
            if child.data == "keyword_arg":
                key, value = child.children
                kwargs.append(ast.KeywordArg(self.ident(key), self.expr(value)))
            else:
                args.append(self.expr(child))
        return tuple(args), tuple(kwargs)

    # ---- statements ----
    def statements(self, body: Tree) -> tuple[ast.Statement, ...]:
        return tuple(self.statement(s) for s in body.children if isinstance(s, Tree))

    def statement(self, node: Tree) -> ast.Statement:
        span = self.span(node)
        if node.data == "input_decl":
            _, name, type_node = node.children
            return ast.InputDecl(self.ident(name), self.tensor_type(type_node), span)
        if node.data == "output_decl":
            return ast.OutputDecl(tuple(self.ident(t) for t in node.children[1:]), span)
        if node.data == "repeat_stmt":
            _, count, body = node.children
            return ast.Repeat(self.expr(count), self.statements(body), span)
        if node.data == "chain":
            sources = None
            calls = []
            for child in node.children:
                if child.data == "sources":
                    sources = tuple(self.ident(t) for t in child.children if t is not None)
                else:
                    calls.append(self.layer_call(child))
            return ast.Chain(sources, tuple(calls), span)
        raise AssertionError(f"build_ast: unhandled statement rule {node.data!r}")

    def tensor_type(self, node: Tree | None) -> ast.TensorType | None:
        if node is None:
            return None
        dtype, *dims = node.children
        return ast.TensorType(
            self.ident(dtype), tuple(self.expr(d) for d in dims if d is not None), self.span(node)
        )

    def layer_call(self, node: Tree) -> ast.LayerCall:
        name, arguments, _as, alias = node.children
        args, kwargs = self.arguments(arguments)
        end = arguments if arguments is not None else name
        call = ast.Call(self.ident(name), args, kwargs, self.span(name).to(self.span(end)))
        return ast.LayerCall(call, self.ident(alias) if alias is not None else None, arguments is None)

    # ---- items ----
    def item(self, node: Tree) -> ast.Item:
        span = self.span(node)
        kind = node.data
        if kind == "import_stmt":
            string = node.children[1]
            return ast.Import(ast.Literal(self.string(string), self.span(string)), span)
        if kind == "const_def":
            _, name, value = node.children
            return ast.Const(self.ident(name), self.expr(value), span)
        if kind == "block_def":
            _, name, *params, body = node.children
            return ast.Block(
                self.ident(name),
                tuple(self.param(p) for p in params if p is not None),
                self.statements(body),
                span,
            )
        if kind == "model_def":
            _, name, body = node.children
            return ast.Model(self.ident(name), self.statements(body), span)
        if kind == "loss_def":
            return ast.Loss(self.call(node.children[1]), span)
        if kind == "optimizer_def":
            return ast.Optimizer(self.call(node.children[1]), span)
        if kind in ("train_section", "data_section"):
            keyword, *entries = node.children
            return ast.Section(
                self.ident(keyword), tuple(self.entry(e) for e in entries if isinstance(e, Tree)), span
            )
        raise AssertionError(f"build_ast: unhandled item rule {kind!r}")

    def param(self, node: Tree) -> ast.Param:
        name, default = node.children
        return ast.Param(self.ident(name), self.expr(default) if default is not None else None)

    def entry(self, node: Tree) -> ast.Setting | ast.Call:
        if node.data == "setting":
            key, value = node.children
            return ast.Setting(self.ident(key), self.expr(value), self.span(node))
        return self.call(node)


def build_ast(tree: Tree, source: Source) -> ast.Spec:
    builder = _Builder(source)
    items = []
    for child in tree.children:
        if isinstance(child, Tree):
            try:
                items.append(builder.item(child))
            except RecursionError:
                raise CompileError([_too_deep(builder.span(child))]) from None
    return ast.Spec(tuple(items), source.path)


def _too_deep(span: Span) -> Diagnostic:
    return Diagnostic(
        "E105", "this nests too deeply to compile", span, help="split the expression with `const` definitions"
    )


def build_expr(tree: Tree, source: Source) -> ast.Expr:
    builder = _Builder(source)
    try:
        return builder.expr(tree)
    except RecursionError:
        raise CompileError([_too_deep(builder.span(tree))]) from None
