/** Where the files shipped with the package are, from src/ (tsx) and dist/ (built) alike. */
import { fileURLToPath } from "node:url";

/** The embedded default: a simulated pool and simulated clouds. */
export const DEMO_CONFIG_DIR = fileURLToPath(new URL("../../examples/simulated", import.meta.url));
