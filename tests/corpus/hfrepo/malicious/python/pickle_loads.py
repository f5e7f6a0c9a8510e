import pickle
obj = pickle.loads(blob)
