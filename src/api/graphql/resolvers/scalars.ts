import { GraphQLDateTime, GraphQLJSONObject, GraphQLSafeInt } from 'graphql-scalars';
import type { Resolvers } from '../generated/resolvers.js';

// DateTime serializes epoch-ms numbers as YYYY-MM-DDTHH:mm:ss.sssZ, the form the leaf uses.
export const scalarResolvers: Resolvers = {
  DateTime: GraphQLDateTime,
  JSONObject: GraphQLJSONObject,
  SafeInt: GraphQLSafeInt,
};
