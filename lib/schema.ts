/**
 * Typed schema helpers: handlers see the service's real `this` (its mixins' members
 * included), which Moleculer's default `ServiceSchema` typing cannot express.
 */
import type { ServiceSchema } from "moleculer";

export function defineService<This>(schema: ServiceSchema<any, any, any, This>): ServiceSchema {
	return schema as unknown as ServiceSchema;
}

export function defineMixin<This>(schema: Partial<ServiceSchema<any, any, any, This>>): Partial<ServiceSchema> {
	return schema as unknown as Partial<ServiceSchema>;
}
