// The deployment's settings, from /config.json beside the page (generated locally by
// `mast local`, written to the web bucket on deploy): API URL, Cognito endpoint, pool and client.
let loaded;

export async function config() {
  if (!loaded) {
    loaded = fetch("config.json", { cache: "no-store" }).then((r) => {
      if (!r.ok) throw new Error("config.json could not be read");
      return r.json();
    });
  }
  return loaded;
}
