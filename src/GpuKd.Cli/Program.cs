Console.WriteLine("gpukd");
