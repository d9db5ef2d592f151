import { DtError } from "../../common/errors.ts";
import { describeFound, scanStringLiteral } from "./python-literal.ts";

/**
 * Condition expressions of `.isolate` files: `OS=="linux" and (CPU=="x64" or
 * CPU!="arm")`. Only comparisons of a config variable with a string literal,
 * joined by `and`/`or` (`and` binds tighter) and grouped by parentheses —
 * the subset isolate's verify_ast accepted, plus `!=`.
 */

/** A parsed condition. `and`/`or` chains are flat, so evaluation recurses only per parenthesis. */
export type Condition =
  | { kind: "compare"; variable: string; op: "==" | "!="; value: string }
  | { kind: "and" | "or"; operands: Condition[] };

/** Deepest parenthesis nesting accepted; real conditions use one or two levels. */
export const MAX_CONDITION_DEPTH = 100;

/**
 * Parses a condition expression. `source` names where it came from (file and
 * key) in error messages.
 *
 * @example
 *   parseCondition('OS=="linux" and CPU!="arm"', "a.isolate conditions[0]")
 * @throws DtError invalid_input naming `source`, the expression, and the column.
 */
export function parseCondition(expr: string, source: string): Condition {
  return new ConditionParser(expr, source).parse();
}

/**
 * Evaluates a parsed condition against config variables.
 *
 * A variable that is not defined makes `==` false and `!=` true. Isolate only
 * loosely treated undefined config variables that way (it failed when a
 * variable used in a condition was missing from the command line); we choose
 * not to fail, so that a .isolate with conditions for other OSes still loads.
 */
export function evaluateCondition(condition: Condition, configVariables: ReadonlyMap<string, string>): boolean {
  switch (condition.kind) {
    case "compare": {
      const actual = configVariables.get(condition.variable);
      const equal = actual !== undefined && actual === condition.value;
      return condition.op === "==" ? equal : !equal;
    }
    case "and":
      return condition.operands.every((operand) => evaluateCondition(operand, configVariables));
    case "or":
      return condition.operands.some((operand) => evaluateCondition(operand, configVariables));
  }
}

/** Parses and evaluates `expr` in one step; see `parseCondition` and `evaluateCondition`. */
export function conditionMatches(expr: string, configVariables: ReadonlyMap<string, string>, source: string): boolean {
  return evaluateCondition(parseCondition(expr, source), configVariables);
}

type Token =
  | { kind: "name"; text: string; at: number }
  | { kind: "string"; text: string; at: number }
  | { kind: "==" | "!=" | "(" | ")" | "end"; at: number };

/** Recursive descent over the tokens of one expression; holds the cursor. */
class ConditionParser {
  private pos = 0;
  private depth = 0;
  private token: Token;

  constructor(private readonly expr: string, private readonly source: string) {
    this.token = this.nextToken();
  }

  parse(): Condition {
    const condition = this.parseOr();
    if (this.token.kind !== "end") this.fail('expected "and", "or" or the end of the condition');
    return condition;
  }

  private fail(what: string, at = this.token.at): never {
    this.failWith(`${what} but found ${describeFound(this.expr, at)}`, at);
  }

  private failWith(message: string, at: number): never {
    throw new DtError("invalid_input", `${this.source}: invalid condition ${JSON.stringify(this.expr)}: ${message} at column ${at + 1}`);
  }

  private isKeyword(word: "and" | "or"): boolean {
    return this.token.kind === "name" && this.token.text === word;
  }

  private parseOr(): Condition {
    const operands = [this.parseAnd()];
    while (this.isKeyword("or")) {
      this.advance();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0] : { kind: "or", operands };
  }

  private parseAnd(): Condition {
    const operands = [this.parseComparison()];
    while (this.isKeyword("and")) {
      this.advance();
      operands.push(this.parseComparison());
    }
    return operands.length === 1 ? operands[0] : { kind: "and", operands };
  }

  private parseComparison(): Condition {
    const token = this.token;
    if (token.kind === "(") {
      this.depth++;
      if (this.depth > MAX_CONDITION_DEPTH) this.fail(`parentheses nested deeper than ${MAX_CONDITION_DEPTH} levels`);
      this.advance();
      const inner = this.parseOr();
      if (this.token.kind !== ")") this.fail('expected ")"');
      this.advance();
      this.depth--;
      return inner;
    }
    if (token.kind !== "name" || token.text === "and" || token.text === "or") this.fail('expected a variable name or "("');
    const op = this.advance().kind;
    if (op !== "==" && op !== "!=") this.fail('expected "==" or "!="');
    const value = this.advance();
    if (value.kind !== "string") this.fail("expected a quoted string");
    this.advance();
    return { kind: "compare", variable: token.text, op, value: value.text };
  }

  /** Moves to the next token and returns it (a method, so TypeScript does not keep stale narrowing of `this.token`). */
  private advance(): Token {
    this.token = this.nextToken();
    return this.token;
  }

  private nextToken(): Token {
    const expr = this.expr;
    while (this.pos < expr.length && /\s/.test(expr[this.pos])) this.pos++;
    const at = this.pos;
    if (at >= expr.length) return { kind: "end", at };
    const c = expr[at];
    if (c === "(" || c === ")") {
      this.pos++;
      return { kind: c, at };
    }
    if ((c === "=" || c === "!") && expr[at + 1] === "=") {
      this.pos += 2;
      return { kind: c === "=" ? "==" : "!=", at };
    }
    if (c === "'" || c === '"') {
      const scan = scanStringLiteral(expr, at);
      if (!scan.ok) this.failWith(scan.message, scan.at);
      this.pos = scan.end;
      return { kind: "string", text: scan.value, at };
    }
    let end = at;
    while (end < expr.length && /[A-Za-z_0-9]/.test(expr[end])) end++;
    if (end === at || /[0-9]/.test(c)) this.fail("expected a variable name, a string, an operator or a parenthesis", at);
    this.pos = end;
    return { kind: "name", text: expr.slice(at, end), at };
  }
}
