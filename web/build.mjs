// The web build: GOV.UK Frontend's Sass compiled with Arial (no GOV.UK font, no crown, no logo),
// and the browser code MAST uses from npm copied beside it into web/dist/ (gitignored).
// Run by bin/_env.sh whenever package-lock.json or this build's inputs change: `npm run build`.
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";
import { parse } from "yaml";
import { readFile } from "node:fs/promises";

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const dist = join(web, "dist");
const modules = join(root, "node_modules");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const css = sass.compile(join(web, "src", "mast.scss"), {
  loadPaths: [modules],
  style: "compressed",
  quietDeps: true,
  silenceDeprecations: ["import", "global-builtin"],
});
// The footer's crest rule stays in the CSS but no MAST page uses its class, so it is never fetched
// (the browser tests fail on any failed request). The font must not even be named.
if (/GDS Transport|\.woff2?/i.test(css.css)) {
  throw new Error("the stylesheet refers to the GOV.UK font; MAST is not a GOV.UK service");
}
await writeFile(join(dist, "mast.css"), css.css);

const copies = {
  "govuk-frontend.min.js": join(modules, "govuk-frontend", "dist", "govuk", "govuk-frontend.min.js"),
  "qrcode.mjs": join(modules, "qrcode-generator", "dist", "qrcode.mjs"),
};
for (const [name, source] of Object.entries(copies)) {
  await copyFile(source, join(dist, name));
}
// The partnership's organisations, for the public request-access page (no API call before sign-in)
// and for showing names instead of ids. Onboarding an organisation is a configuration change and a
// deploy, which rebuilds this.
const partnership = parse(await readFile(join(root, "infra", "partnership.yaml"), "utf8"));
const organisations = partnership.organisations.map(({ id, name }) => ({ id, name }));
await writeFile(join(dist, "organisations.json"), JSON.stringify({ organisations }));

console.log(`web build: ${Object.keys(copies).length + 2} files in ${dist}`);
