/** Every service of the product by name; `SERVICES` picks which of them a node runs. */
import type { ServiceSchema } from "moleculer";
import type { ServiceName } from "../config/env";
import api from "./api.service";
import products from "./products.service";
import inventory from "./inventory.service";
import purchases from "./purchases.service";
import audit from "./audit.service";

export const SERVICE_SCHEMAS: Record<ServiceName, ServiceSchema> = { api, products, inventory, purchases, audit };
