/** The most units a product may have on hand (stock columns are 32-bit integers); products checks initial stock against it too. */
export const MAX_ON_HAND = 1_000_000_000;
