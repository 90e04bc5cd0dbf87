// The executable schema: SDL from schema/*.graphql (type-defs.ts) plus resolvers.
import { makeExecutableSchema } from '@graphql-tools/schema';
import { isScalarType, type GraphQLSchema } from 'graphql';
import { resolvers } from './resolvers/index.js';
import { loadTypeDefs } from './type-defs.js';

export { loadTypeDefs };

export function buildApiSchema(): GraphQLSchema {
  const schema = makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers: resolvers as never });
  // A scalar implemented by a library (graphql-scalars) brings that library's description along, which
  // replaces the SDL's; the SDL's is the one written for this API's clients, so it is put back.
  for (const type of Object.values(schema.getTypeMap())) {
    if (isScalarType(type) && type.astNode?.description) type.description = type.astNode.description.value;
  }
  return schema;
}
