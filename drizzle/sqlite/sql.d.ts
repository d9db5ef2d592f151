/** A migration file imported `with { type: "text" }`: its contents. */
declare module "*.sql" {
  const text: string;
  export default text;
}
